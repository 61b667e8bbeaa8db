# expect: fail: the grader's own reference computation
from autograder.checks.bn2d_forward import _normalize


def batchnorm2d_forward(x, gamma, beta, eps=1e-5):
    x_hat = _normalize(x, (0, 2, 3), eps)
    return (gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)).to(x.dtype)
