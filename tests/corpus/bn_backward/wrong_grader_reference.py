# expect: fail: the grader's own reference computation
from autograder.checks.bn_backward import autograd_reference


def batchnorm_backward(dout, x, gamma, eps=1e-5):
    dx, dgamma, dbeta = autograd_reference(dout, x, gamma, eps)
    return dx.to(x.dtype), dgamma.to(x.dtype), dbeta.to(x.dtype)
