# expect: fail: switched the model to training mode
def predict(model, x):
    # Written for the visible test, where the model is always training.
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train()
    return out
