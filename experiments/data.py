"""The data set: scikit-learn's bundled 8x8 handwritten digits, split and standardized.

1797 images of 64 pixels (integers 0..16), 10 classes. The split is a seeded permutation
(:func:`load`), so it is the same on every machine for the same ``split_seed``; the features
are standardized with the training set's per-pixel mean and standard deviation (pixels that
are constant in the training set are only centred).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "load", "N_FEATURES", "N_CLASSES"]

N_FEATURES = 64
N_CLASSES = 10


@dataclass(frozen=True)
class Dataset:
    """A standardized train/test split.

    Attributes
    ----------
    x_train, x_test : ndarray, float64, shape (n, 64)
        Standardized pixels.
    y_train, y_test : ndarray, int64, shape (n,)
        Class labels 0..9.
    split_seed : int
        Seed of the permutation that made the split.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    split_seed: int


def load(test_fraction=0.2, split_seed=0):
    """Load the digits, split them with a seeded permutation and standardize them.

    Parameters
    ----------
    test_fraction : float
        Share of the 1797 images held out for testing, in (0, 1).
    split_seed : int
        Seed of the ``numpy.random.default_rng`` permutation.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        ``test_fraction`` outside (0, 1) or leaving an empty split.
    """
    from sklearn.datasets import load_digits

    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    digits = load_digits()
    x = np.asarray(digits.data, dtype=np.float64)
    y = np.asarray(digits.target, dtype=np.int64)
    n_test = int(round(len(x) * float(test_fraction)))
    if not 0 < n_test < len(x):
        raise ValueError(f"test_fraction {test_fraction!r} leaves an empty split")
    order = np.random.default_rng(split_seed).permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0)
    std[std == 0] = 1.0
    return Dataset(x_train=(x[train] - mean) / std, y_train=y[train],
                   x_test=(x[test] - mean) / std, y_test=y[test], split_seed=int(split_seed))
