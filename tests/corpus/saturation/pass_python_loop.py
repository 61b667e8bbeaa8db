# expect: pass
def saturated_fraction(activations, threshold=0.97):
    values = activations.detach().flatten().tolist()
    return sum(1 for v in values if abs(v) > threshold) / len(values)
