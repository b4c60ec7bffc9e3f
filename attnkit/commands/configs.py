"""attnkit configs [FOLDER]: every config name on the search path and the file it resolves to."""

from attnkit.commands._common import add_json, emit

NAME = "configs"
HELP = (
    "list config names (arch, workloads, energy, sweeps, anchors, blocks, devices) and the file each resolves to: "
    "./configs, then ATTNKIT_CONFIG_PATH (colon-separated), then the shipped configs"
)


def add_arguments(p) -> None:
    from attnkit.params.config import FOLDERS

    p.add_argument(
        "folder", nargs="?", choices=FOLDERS, metavar="FOLDER", help=f"only this folder ({', '.join(FOLDERS)})"
    )
    p.add_argument("--engines", action="store_true", help="list the engine names instead (plugins included)")
    p.add_argument("--blocks", action="store_true", help="list the RTL block names instead (plugins included)")
    add_json(p)


def run(args) -> int:
    from attnkit import api
    from attnkit.params import config

    if args.engines or args.blocks:
        names = api.engines() if args.engines else api.blocks()
        emit(args, [{"name": n} for n in names] if args.json else {"names": names})
        return 0
    rows = api.configs(args.folder)
    if args.json:
        emit(args, list(rows))
        return 0
    print("search path (first wins):")
    for origin, root in config.search_path():
        print(f"  {origin:<20} {root}{'' if root.is_dir() else '  (missing)'}")
    print()
    emit(args, rows, ["folder", "name", "origin", "extends", "path", "shadows"])
    return 0
