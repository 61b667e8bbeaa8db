# expect: fail: the batch mean was treated as constants
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mean = x.detach().mean(dim=0)
    var = ((x - mean) ** 2).mean(dim=0)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
