//! Setup of question 4 (tasks, models, measurements used only by its experiment).
