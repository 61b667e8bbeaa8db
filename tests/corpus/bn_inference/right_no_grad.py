# expect: pass
def batchnorm_inference(x, running_mean, running_var, gamma, beta, eps=1e-5):
    # inference: nothing is trained, so no graph is needed (gradients are not part of this contract)
    with torch.no_grad():
        return gamma * (x - running_mean) / torch.sqrt(running_var + eps) + beta
