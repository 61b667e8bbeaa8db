# expect: fail: Not answered yet
def batchnorm2d_forward(x, gamma, beta, eps=1e-5):
    """Training-mode BatchNorm2d."""
    # YOUR CODE HERE
    raise NotImplementedError()
