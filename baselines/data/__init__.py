"""Reading the dataset folder: splits, clip loaders, S/W/U batches, online augmentation."""
