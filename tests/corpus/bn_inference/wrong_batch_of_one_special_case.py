# expect: fail: an example alone
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    # batch statistics when there is more than one example, running statistics otherwise
    if x.shape[0] == 1:
        return gamma * x / torch.sqrt(running_var + eps) + beta        # forgot the mean here
    return gamma * (x - running_mean) / torch.sqrt(running_var + eps) + beta
