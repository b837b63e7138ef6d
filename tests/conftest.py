import sys
from pathlib import Path

# Test helpers (studio.py, libreoffice.py, fixtures) are imported by name.
sys.path.insert(0, str(Path(__file__).parent))
