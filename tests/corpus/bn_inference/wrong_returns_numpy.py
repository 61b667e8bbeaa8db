# expect: fail: return a torch.Tensor
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    y = gamma * (x - running_mean) / torch.sqrt(running_var + eps) + beta
    return y.numpy()
