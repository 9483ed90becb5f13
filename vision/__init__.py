"""The digit benchmark: an MLP and a CNN built from the numpy engine, trained on the real MNIST and
compared (accuracy, loss, speed, memory, plots). Entry point: ``vision.benchmark.main``
(``digit-benchmark`` / ``python scripts/digit_benchmark.py``)."""
