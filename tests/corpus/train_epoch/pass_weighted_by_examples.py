# expect: pass
def train_epoch(model, loader, optimizer, loss_fn):
    """Mean loss per example, weighting each batch by its size."""
    model.train()
    running_loss, seen = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        predictions = model(inputs)
        loss = loss_fn(predictions, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * inputs.size(0)
        seen += inputs.size(0)
    return running_loss / seen
