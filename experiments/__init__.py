"""Training experiments with the L1BN / L2BN golden models (paper Theorem 1, Table II, Fig. 1).

A small NumPy multilayer perceptron learns the 8x8 digits of scikit-learn with one of four
batch-normalization variants between its linear layers: float64 L2BN and L1BN
(:mod:`l1bn.golden.reference`) and the bit-accurate fixed-point L2BN and L1BN units
(:mod:`l1bn.golden.bn_unit`, forward and backward). Modules, one concern each:

* :mod:`l1bn.experiments.data`: the data set, a fixed-seed train/test split, standardization;
* :mod:`l1bn.experiments.bn_layers`: the four BN variants behind one interface;
* :mod:`l1bn.experiments.network`: the network, softmax cross-entropy, SGD with momentum;
* :mod:`l1bn.experiments.train`: training runs over seeds and variants (test error, loss curves);
* :mod:`l1bn.experiments.theorem1`: sigma_L2 / sigma_L1 of the BN layers' inputs during training;
* :mod:`l1bn.experiments.rtl_check`: one batch per BN layer through the RTL (``l1bn.sim.simulate``);
* :mod:`l1bn.experiments.plots`: the figures; :mod:`l1bn.experiments.report`: ``experiments.md`` and
  ``experiments.json`` (written atomically by :mod:`l1bn.util.files`);
* :mod:`l1bn.experiments.cli`: the ``l1bn experiment`` command.

Only the BN layers are fixed point; the linear layers, ReLU and the loss are float64.
"""
