# expect: pass
def saturated_fraction(activations, threshold=0.97):
    saturated = torch.abs(activations) > threshold
    count = int(saturated.sum())
    return count / activations.numel()
