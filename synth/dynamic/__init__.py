"""Dynamic mixing: training clips drawn on the fly from a soundbank (Cornell et al. 2020, section 3.2).

- :mod:`.spec`       the pydantic model of ``specs/dynamic.yaml``
- :mod:`.sources`    foreground/background pools (soundbank or strong data dir) and the resampled-audio cache
- :mod:`.plan`       the draws of one item, keyed by (seed, epoch, index): files, placement, RIR, effects, levels
- :mod:`.transforms` the effects audiomentations lacks, with its ``__call__(samples, sample_rate)`` interface
- :mod:`.chain`      random effect chains and the per-clip numpy render (the CPU path)
- :mod:`.gpu`        the torch batch render (the device path)
- :mod:`.features`   feature-domain augmentation (noise at a random SNR, SpecAugment)
- :mod:`.dataset`    torch datasets (strong dynamic mixtures; weak/unlabelled clips with an extra background)
"""
