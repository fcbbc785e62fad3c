"""The repository's data folders — sql/, dataset_cards/, samples/, recipes/ — wherever hala is installed.

In a checkout (and an editable install) they sit next to the packages; a wheel installs them under
`<prefix>/share/hala/` (pyproject's data-files), since top-level folders named `sql` would collide in site-packages.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
INSTALLED = Path(sysconfig.get_path("data")) / "share" / "hala"


def asset_dir(name: str) -> Path:
    """The folder `name` (e.g. "sql") of this hala, from the checkout or the installed data files."""
    for base in (CHECKOUT, INSTALLED):
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(f"hala's {name}/ folder is missing: looked in {CHECKOUT} and {INSTALLED}; "
                            "reinstall hala (pip install .) or run it from a checkout")
