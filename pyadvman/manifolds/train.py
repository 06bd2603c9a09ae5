"""``python -m pyadvman.manifolds.train``: the spelling of pyadvman 0.1 for ``pyadvman manifold``; it keeps
working, with a warning, until pyadvman 0.3."""

if __name__ == "__main__":
    import sys

    from pyadvman._compat import deprecated
    from pyadvman.cli import main

    deprecated("python -m pyadvman.manifolds.train", "pyadvman manifold", 2)
    sys.exit(main(["manifold", *sys.argv[1:]]))
