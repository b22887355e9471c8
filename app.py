"""RACER Explorer (placeholder until the real app lands)."""
import gradio as gr

with gr.Blocks(title="RACER Explorer") as demo:
    gr.Markdown("# RACER Explorer\nThe app is being built.")

if __name__ == "__main__":
    demo.launch()
