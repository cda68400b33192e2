"""The bounds of what a request may ask for, in one place: the command-line flags, the Python API, the data sets
of one's own and the checks of exports read them here."""
LATENT_DIM = 20  # -n's default
MAX_LATENT_DIM = 4096
MAX_STD = 100.0  # of the noise a sample is drawn with: beyond it every image is the decoder far outside what it saw
MAX_COUNT = 10 ** 9  # of images, epochs, labels, ...: past any data set here, and short enough for a file name
MIN_CLASSES, MAX_CLASSES = 2, 100
MAX_SEED = 2 ** 32 - 1  # NumPy's and TensorFlow's seeds
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 128  # pixels a side: what --image-size may ask for, and a run's images' size
MAX_CLASS_NAME = 100  # characters of a class's name: it titles figures and is written into exports
