# expect: fail: the grader's own reference computation
import autograder.checks._bn_reference as grader


def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    return grader.inference(x, running_mean, running_var, gamma, beta, eps).to(x.dtype)
