//! Setup of question 8 (tasks, models, measurements used only by its experiment).
