# expect: pass
def saturated_fraction(activations, threshold=0.97):
    t = activations.detach().double()
    high = t > threshold
    low = t < -threshold
    return float((high | low).sum().item()) / t.numel()
