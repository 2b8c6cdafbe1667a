"""Training experiments with the L1BN / L2BN golden models (paper Theorem 1, Table II, Fig. 1).

A small NumPy multilayer perceptron learns the 8x8 digits of scikit-learn with one of four
batch-normalization variants between its linear layers: float64 L2BN and L1BN
(:mod:`golden.reference`) and the bit-accurate fixed-point L2BN and L1BN units
(:mod:`golden.bn_unit`, forward and backward). Modules, one concern each:

* :mod:`experiments.data`: the data set, a fixed-seed train/test split, standardization;
* :mod:`experiments.bn_layers`: the four BN variants behind one interface;
* :mod:`experiments.network`: the network, softmax cross-entropy, SGD with momentum;
* :mod:`experiments.train`: training runs over seeds and variants (test error, loss curves);
* :mod:`experiments.theorem1`: sigma_L2 / sigma_L1 of the BN layers' inputs during training;
* :mod:`experiments.rtl_check`: one batch per BN layer through the RTL (``synth.simulate``);
* :mod:`experiments.plots`: the figures; :mod:`experiments.report`: ``experiments.md`` and
  ``experiments.json`` (written atomically by :mod:`l1bn.files`);
* :mod:`experiments.cli`: the ``l1bn experiment`` command.

Only the BN layers are fixed point; the linear layers, ReLU and the loss are float64.
"""
