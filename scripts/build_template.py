"""Regenerate the generated VBA/ribbon sources, then build workbook_template.xlsm.

    python scripts/build_template.py            # writes ./workbook_template.xlsm
    python scripts/build_template.py --check    # exit 1 if anything committed is stale
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xl_ledger import template  # noqa: E402
from xl_ledger.excel import sources  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--out", type=Path, default=template.REPO_ROOT / template.TEMPLATE_NAME)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.check:
        stale = [str(p) for p, text in sources.generated().items()
                 if not p.exists() or p.read_bytes() != text.encode("cp1252" if p.suffix == ".bas" else "utf-8")]
        if not args.out.exists() or args.out.read_bytes() != template.build_template():
            stale.append(str(args.out))
        for path in stale:
            print(f"stale: {path}")
        return 1 if stale else 0

    for path in sources.write_generated():
        print(f"regenerated {path}")
    args.out.write_bytes(template.build_template())
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
