"""Builds the QApplication and the main window (Briefcase entry point); the only place that wires everything."""
