"""Training strategies plugged into the one Trainer: tagging, SED, tri-training."""
