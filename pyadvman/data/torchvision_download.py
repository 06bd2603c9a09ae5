"""``download=True`` of the CIFAR and SVHN loaders: torchvision's downloader (checksums, archives), the one thing
pyadvman takes from torchvision (the `vision` extra)."""

from __future__ import annotations

from types import ModuleType


def torchvision_datasets(dataset: str) -> ModuleType:
    """``torchvision.datasets``.

    Raises:
        ImportError: torchvision is missing, or cannot be imported with this torch (PyPI's wheel is a CUDA build);
            the message names ``dataset`` and what to do instead.
    """
    try:
        import torchvision.datasets
    except Exception as error:  # noqa: BLE001 (a torchvision built for another torch fails in several ways)
        reason = "it is not installed" if isinstance(error, ImportError) else \
            f"it cannot be imported with this torch ({type(error).__name__}: {error})"
        raise ImportError(f"{dataset}: download=True uses torchvision's downloader, but {reason}; install the "
                          "`vision` extra (pip install 'pyadvman[vision]'), or download and extract the files "
                          "yourself") from None
    return torchvision.datasets
