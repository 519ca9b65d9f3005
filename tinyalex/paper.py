"""The constants of Krizhevsky, Sutskever & Hinton (NIPS 2012), each with the section it is from.

Everything else in tinyalex takes its defaults from here, so a student can find the paper's
hyper-parameters (preprocessing, LRN, pooling, augmentation, dropout, learning, initialisation,
layer widths) in one file and change each in one place. The shape of each layer (kernel sizes,
strides, padding, which maps each reads) is written out where AlexNet is built, in
``models/alexnet.py``, next to the table of §3.5 that it follows.
"""

# §2 The dataset: images are rescaled so the shorter side is 256, then the central 256x256 is
# cropped; the per-pixel mean image of the training set is subtracted.
IMAGE_SIZE = 256

# §3.3 Local response normalization:
#   b[i] = a[i] / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a[j]^2) ** beta
LRN_K = 2.0
LRN_N = 5
LRN_ALPHA = 1e-4
LRN_BETA = 0.75

# §3.4 Overlapping pooling: windows of z x z with stride s < z (z = 3, s = 2).
POOL_SIZE = 3
POOL_STRIDE = 2

# §4.1 Data augmentation: random 224x224 patches of the 256x256 images and their horizontal
# reflections; PCA colour noise with alpha_i ~ N(0, 0.1^2) (standard deviation 0.1).
CROP_SIZE = 224
PCA_STD = 0.1

# §4.2 Dropout: each hidden unit of the first two fully-connected layers is zeroed with
# probability 0.5 while training; at test time the outputs are multiplied by 0.5.
DROPOUT_P = 0.5

# §5 Details of learning.
BATCH_SIZE = 128
MOMENTUM = 0.9
WEIGHT_DECAY = 0.0005
LEARNING_RATE = 0.01  # divided by 10 when the validation error stops improving (3 times)
LR_DIVISIONS = 3
INIT_STD = 0.01  # weights ~ N(0, 0.01^2), i.e. standard deviation 0.01
INIT_BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")  # biases 1 here, 0 elsewhere

# §3.5 Overall architecture: neurons per layer after the input, as printed in the paper.
NEURONS = (253_440, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000)

# §3.5 Overall architecture (Figure 2): kernels in the five convolutional layers (half of them on
# each GPU, §3.2), neurons in each fully-connected hidden layer, and the 1000 ImageNet classes.
CONV_CHANNELS = (96, 256, 384, 384, 256)
FC_HIDDEN = 4096
NUM_CLASSES = 1000

# §3.1 Figure 1: "A four-layer convolutional neural network with ReLUs (solid line) reaches a 25%
# training error rate on CIFAR-10 six times faster than an equivalent network with tanh neurons."
FIGURE1_TARGET_ERROR = 0.25
FIGURE1_SPEEDUP = 6
