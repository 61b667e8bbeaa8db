# expect: pass
def saturated_fraction(activations, threshold=0.97):
    with torch.no_grad():
        saturated = torch.logical_or(activations > threshold, activations < -threshold)
        return saturated.sum().item() / saturated.numel()
