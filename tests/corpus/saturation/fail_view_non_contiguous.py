# expect: fail: use .reshape(-1)
def saturated_fraction(activations, threshold=0.97):
    flat = activations.detach().view(-1)
    return (flat.abs() > threshold).sum().item() / flat.numel()
