"""``python -m pyadvman.training``: the spelling of pyadvman 0.1 for ``pyadvman train`` (also under ``torchrun
--nproc_per_node N -m pyadvman.training``); it keeps working, with a warning, until pyadvman 0.3."""

if __name__ == "__main__":
    import sys

    from pyadvman._compat import deprecated
    from pyadvman.cli import main

    deprecated("python -m pyadvman.training", "pyadvman train (or python -m pyadvman.cli train under torchrun)", 2)
    sys.exit(main(["train", *sys.argv[1:]]))
