"""Selection by a model's uncertainty, and active learning.

- :mod:`~mlipselect.active.scores`: what trained models say of frames: a committee's spread,
  a GPR's predicted variance, last-layer-gradient features.
- :mod:`~mlipselect.active.methods`: the selection methods ``committee``, ``gpr-variance``
  and ``bal`` built on them, registered with :mod:`mlipselect.selection` through its
  entry-point group (the route any plug-in takes: selection itself never imports a model).
- :mod:`~mlipselect.active.learn`: rounds of train, score, select and label from a pool, so
  an iterative method and a one-shot one compare at the same number of labelled frames.
"""
