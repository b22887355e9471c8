"""``python -m racer.bench``: the benchmark (``racer.bench.cli``)."""
import sys

from racer.bench.cli import main
from racer.errors import UserError

try:
    main()
except UserError as error:  # a bad flag or method: one line, no traceback
    sys.exit(f"error: {error}")
