# expect: fail: normalization built-in
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    return F.batch_norm(x, running_mean, running_var, gamma, beta, training=False, eps=eps)
