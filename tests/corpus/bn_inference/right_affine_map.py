# expect: pass
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    # at inference BN is one affine map: y = scale * x + shift
    scale = gamma / torch.sqrt(running_var + eps)
    shift = beta - scale * running_mean
    return x * scale + shift
