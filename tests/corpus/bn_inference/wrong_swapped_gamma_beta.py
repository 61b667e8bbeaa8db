# expect: fail: swapped gamma and beta
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    return beta * (x - running_mean) / torch.sqrt(running_var + eps) + gamma
