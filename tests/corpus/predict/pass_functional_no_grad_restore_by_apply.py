# expect: pass
def predict(model, x):
    flags = [m.training for m in model.modules()]
    model.apply(lambda m: m.train(False))
    try:
        with torch.no_grad():
            return model(x).clone()
    finally:
        for m, flag in zip(model.modules(), flags):
            m.training = flag
