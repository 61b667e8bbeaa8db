# expect: pass
def saturated_fraction(activations, threshold=0.97):
    # np.mean of a bool array is a np.float64, which is a Python float.
    values = activations.detach().cpu().double().numpy()
    return np.mean(np.abs(values) > threshold)
