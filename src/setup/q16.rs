//! Setup of question 16 (tasks, models, measurements used only by its experiment).
