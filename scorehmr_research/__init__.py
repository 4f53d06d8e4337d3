"""Research and build code of ScoreHMR for Blender: training-data importers (motion/), synthetic
observations through the measured detector noise, the training set, prior training, the
SMPLify-style baseline and its pose prior, and the benchmark metrics.

Never shipped in the extension zip and never imported by ``backend`` (the runtime); it imports
the backend's model code to train and evaluate it. Commands: ``python -m scorehmr_research --help``.
"""
