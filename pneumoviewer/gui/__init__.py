"""The Qt (PySide6 + pyqtgraph) review app: main window, viewer, worklist, workers."""
