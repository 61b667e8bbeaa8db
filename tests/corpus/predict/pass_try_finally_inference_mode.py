# expect: pass
def predict(model, x):
    modules = list(model.modules())
    was_training = [m.training for m in modules]
    try:
        model.eval()
        with torch.inference_mode():
            return model(x)
    finally:
        for m, flag in zip(modules, was_training):
            m.training = flag
