# expect: fail: changed its input gamma in place
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    gamma.unsqueeze_(0)              # in place: the caller's gamma now has shape (1, D)
    beta = beta.unsqueeze(0)
    mean = x.mean(dim=0, keepdim=True)
    var = x.var(dim=0, unbiased=False, keepdim=True)
    return gamma * (x - mean) / torch.sqrt(var + eps) + beta
