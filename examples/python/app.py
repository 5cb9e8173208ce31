"""Shows that the virtual environment and its PyPI dependency are what runs."""
import sys

import six

print(f"python {sys.version_info.major}.{sys.version_info.minor} in {sys.prefix}, six {six.__version__}")
