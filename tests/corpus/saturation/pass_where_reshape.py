# expect: pass
def saturated_fraction(activations, threshold=0.97):
    flat = activations.detach().reshape(-1)
    ones = torch.where(flat.abs() > threshold, 1.0, 0.0)
    return ones.double().mean().item()
