"""The digit benchmark: an MLP and a CNN built from the numpy engine, trained on the real MNIST and
compared (accuracy, loss, speed, memory, plots). Entry point: ``vision.benchmark.main``
(``digit-benchmark`` / ``python scripts/digit_benchmark.py``).

And a window where people draw digits and watch both networks read them: ``vision.draw``
(``digit-draw`` / ``python -m vision.draw``), the only part of vision that imports pygame. What it computes is
here, numpy only: ``preprocess.to_mnist`` (a drawing made into an MNIST digit), ``reader`` (the models of a run
folder, checked, and what they make of a digit), ``redraw`` (test digits drawn as a person might).
"""
