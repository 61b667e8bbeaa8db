# expect: fail: normalization built-in
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    # layer_norm normalizes each example over its features: not even the right statistics
    return F.layer_norm(x, x.shape[1:], gamma, beta, eps)
