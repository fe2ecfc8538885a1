"""Input normalisation constants, importable without numpy or torch: model specs name them, and the
CLI reads model specs on its start-up path."""

# The normalisation of torchvision's Kinetics-400 video models (per RGB channel, frames scaled to 0..1);
# models may declare their own.
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
