# expect: pass
def saturated_fraction(activations, threshold=0.97):
    hits = torch.count_nonzero(activations.detach().abs() > threshold)
    return float(hits) / activations.numel()
